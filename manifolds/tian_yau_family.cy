# The Tian-Yau cover (chi = -18, h21 = 23) with a declared deformation of each of its three
# equations; at a = b = c = 0 it is manifolds/tian_yau.cy.  `cygen moduli` differentiates in
# a, b, c (and with --deformations all in 20 more monomials): docs/moduli.md.
name tian_yau_family
ambient P3[x] * P3[y]
kahler 1, 1
param a = 0
param b = 0
param c = 0
eq x0^3 + x1^3 + x2^3 + x3^3 + a*x0*x1*x2
eq y0^3 + y1^3 + y2^3 + y3^3 + b*y1*y2*y3
eq x0*y0 + x1*y1 + x2*y2 + x3*y3 + c*x0*y1
