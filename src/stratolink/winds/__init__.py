"""Wind fields: synthetic, forecast (truth plus growing error) and real GFS/ERA5 data."""

from stratolink.winds.base import FloatArray, UniformWindField, WindField
from stratolink.winds.forecast import ForecastWindField
from stratolink.winds.gridded import load_wind_data
from stratolink.winds.gridded_field import GriddedWindField
from stratolink.winds.synthetic import SyntheticWindField

__all__ = [
    "FloatArray",
    "ForecastWindField",
    "GriddedWindField",
    "SyntheticWindField",
    "UniformWindField",
    "WindField",
    "load_wind_data",
]
