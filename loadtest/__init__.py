"""Load tests of whole user journeys through the live topology (docs/performance.md)."""
