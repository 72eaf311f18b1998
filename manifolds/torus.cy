# The Fermat cubic curve in P2: an elliptic curve (a real 2-torus).
name torus
ambient P2
eq z0^3 + z1^3 + z2^3
