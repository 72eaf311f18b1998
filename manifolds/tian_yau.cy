# The Tian-Yau manifold (the seed's equations): chi = -18, h11 = 14, h21 = 23.
name tian_yau
ambient P3[x] * P3[y]
kahler 1, 1
eq x0^3 + x1^3 + x2^3 + x3^3
eq y0^3 + y1^3 + y2^3 + y3^3
eq x0*y0 + x1*y1 + x2*y2 + x3*y3
