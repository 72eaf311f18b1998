# The Fermat quartic K3 surface in P3: chi = 24.
name k3_quartic
ambient P3
eq z0^4 + z1^4 + z2^4 + z3^4
