# A one-parameter family of bicubics in P2 x P2 (chi = -162, h21 = 83), smooth at psi = 1/2;
# psi is a complex-structure modulus for `cygen moduli` (docs/moduli.md).
name bicubic_family
ambient P2[x] * P2[y]
param psi = 1/2
eq (x0^3 + x1^3 + x2^3)*(y0^3 + y1^3 + y2^3) + x0^3*y1^3 + x1^3*y2^3 + x2^3*y0^3 - 3*psi*x0*x1*x2*y0*y1*y2
