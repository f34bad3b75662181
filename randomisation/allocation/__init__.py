"""Allocating: randomising participants, manual allocations, the keyed and witnessed
allocation log and its verification, flags in error and emergency unblinding."""
