"""Helpers kept from pyportus.

pyportus's ``ip_to_str`` turned a dotted string into an int and ``str_to_ip`` an int into
a dotted string (the names were swapped). Here both accept either form and convert it to
the other one, so old scripts keep working and new ones can read the names literally:
``ip_to_str(info.src_ip)`` is the dotted address.

Addresses are IPv4 as the Linux datapath reports them: the 32-bit value whose bytes, in
memory order (little-endian host), are the address octets (network byte order).
"""

from __future__ import annotations

import ipaddress

__all__ = ["ip_to_str", "str_to_ip"]


def _int_to_dotted(value: int) -> str:
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{value} is not a 32-bit IPv4 address")
    return str(ipaddress.IPv4Address(value.to_bytes(4, "little")))


def _dotted_to_int(text: str) -> int:
    return int.from_bytes(ipaddress.IPv4Address(text).packed, "little")


def _convert(value: int | str) -> int | str:
    if isinstance(value, bool):
        raise TypeError("expected an int or a dotted IPv4 string, got bool")
    if isinstance(value, int):
        return _int_to_dotted(value)
    if isinstance(value, str):
        return _dotted_to_int(value)
    raise TypeError(f"expected an int or a dotted IPv4 string, got {type(value).__name__}")


def ip_to_str(value: int | str) -> int | str:
    """int address → dotted string (and, as in pyportus, dotted string → int)."""
    return _convert(value)


def str_to_ip(value: int | str) -> int | str:
    """Dotted string → int address (and, as in pyportus, int → dotted string)."""
    return _convert(value)
