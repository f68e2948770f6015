"""The whole system in virtual or real time: the onboard software and the ground in one world.

* `sim.mission`: `run_mission`, the virtual-time mission over emulated providers, built from
  `sim.config` (what a mission is, TOML files), `sim.network` (the providers' links and the
  injected faults), `sim.accounting` (every bundle reconciled) and `sim.report` (the page);
* `sim.realtime`: the same mission as two processes on loopback UDP on the wall clock;
* `sim.evaluate`: `navigate-eval`'s flights, the onboard agent flying scenario worlds;
* `sim.operators`: the operator who commands through the real API.

Layering: above `world`, `onboard` and `ground` (which it joins), below the command line.
"""
