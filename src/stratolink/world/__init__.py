"""The simulated world: the true wind, the balloon's physics and sensors, and provider coverage.

One world drives every simulation in virtual time (the mission simulator, the real-time
simulator, `navigate-eval`) and the simulated sensors of `stratolink flight run`:

* `world.model`: a `World` (true wind, how forecasts of it are made, the balloon model, the
  sun test, and optionally where data can be sent) and its constructors;
* `world.balloon`: `SimulatedBalloon`, one balloon of that world flying in the true wind,
  read like sensors and steered like an altitude actuator;
* `world.sensors`: `SensorReading`, what the flight computer's sensors read, and the sun
  seen from the balloon's altitude;
* `world.coverage`: where and when each internet provider can reach a balloon.

Layering: the world sits above the physics (`flight`, `winds`), `navigation` and `link`, and
below the onboard software, the ground and the simulators, which all use it.
"""
