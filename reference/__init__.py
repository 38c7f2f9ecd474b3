"""Instructor solution of the channel-attention lab. Never shipped to students."""
