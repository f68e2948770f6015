"""Altitude-control navigation: controllers that steer by riding winds, and their evaluation."""

from stratolink.navigation.greedy import StationSeekerConfig, StationSeekerController
from stratolink.navigation.planner import PlannerConfig, PlannerController
from stratolink.navigation.types import (
    Command,
    CommandKind,
    Controller,
    NavObservation,
    WindColumn,
)
from stratolink.navigation.vehicle import VehicleModel

__all__ = [
    "Command",
    "CommandKind",
    "Controller",
    "NavObservation",
    "PlannerConfig",
    "PlannerController",
    "StationSeekerConfig",
    "StationSeekerController",
    "VehicleModel",
    "WindColumn",
]
