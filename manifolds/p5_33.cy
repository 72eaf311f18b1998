# Two cubics in P5 (CICY P5[3,3]): chi = -144.
name p5_33
ambient P5[x]
eq x0^3 + x1^3 + x2^3 + x3^3 + x4^3 + x5^3
eq x0^3 + 2*x1^3 + 3*x2^3 - x3^3 + (1 + I)*x4^3 - 2*I*x5^3 + x0*x1*x2 + x3*x4*x5
