"""Put the charm's lib/ on sys.path, as layer:basic does in the built charm."""
import os
import sys

LIB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'lib')
if LIB not in sys.path:
    sys.path.insert(0, LIB)
