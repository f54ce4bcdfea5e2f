"""Modbus lines and register maps shared by the edge's Modbus drivers."""
