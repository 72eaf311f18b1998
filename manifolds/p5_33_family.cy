# The one-parameter P5[3,3] family (chi = -144, h21 = 73), smooth at psi = 1/2 (singular at
# psi = 0); psi is a complex-structure modulus for `cygen moduli` (docs/moduli.md).
name p5_33_family
ambient P5[z]
param psi = 1/2
eq z0^3 + z1^3 + z2^3 - 3*psi*z3*z4*z5
eq z3^3 + z4^3 + z5^3 - 3*psi*z0*z1*z2
