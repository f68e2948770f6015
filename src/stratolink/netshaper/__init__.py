"""A user-space path shaper: two network namespaces joined through TUN devices.

Kernels without `sch_netem` (and unprivileged containers) cannot shape a veth pair; this
package joins two namespaces by a TUN device in each and forwards packets between them in
user space with a bottleneck rate, a one-way delay, random loss and a drop-tail queue limit
(`model.ShapedQueue`, sans-I/O), one process per direction (`tun`). Used by
`benchmarks/realpath_bench.py` to run the real flight and ground processes (and kernel TCP
through iperf3) over the same emulated provider path.
"""
