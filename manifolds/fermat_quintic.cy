# The Fermat quintic threefold in P4.
name fermat_quintic
ambient P4
eq z0^5 + z1^5 + z2^5 + z3^5 + z4^5
