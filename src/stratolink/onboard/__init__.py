"""The balloon's flight software: sensors -> agent -> controller -> actuator lines and bundles.

* `onboard.agent`: `OnboardAgent` (sans-I/O): decides, downlinks position, telemetry and
  science, and obeys verified commands and new forecasts;
* `onboard.records`: the agent's configuration, outbox, station and bounded log;
* `onboard.loop`: `OnboardLoop`, the glue between agent, link node, sensors and actuator that
  every driver runs unchanged, and the parser of real sensors' JSON lines;
* `onboard.process` and `onboard.runconfig`: `stratolink flight run` on real sockets.

Layering: above `flight`, `navigation`, `link` and `world`; beside the ground, which it never
imports; below the simulators and the command line.
"""
