"""The channel-attention lab: your models (models.py) and the harness that trains and compares them."""
