# A generic bicubic in P2 x P2 (CICY #7884): chi = -162.
name bicubic_generic
ambient P2[x] * P2[y]
eq generic(3, 3; seed=1)
