"""Wind fields: synthetic, forecast (truth plus growing error) and real GFS/ERA5 data."""

from stratolink.winds.base import FloatArray, UniformWindField, WindField

__all__ = ["FloatArray", "UniformWindField", "WindField"]
