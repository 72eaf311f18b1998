# The Schoen manifold: P2 x P1 x P2 with degrees (3,1,0), (0,1,3); chi = 0.
name schoen
ambient P2[x] * P1[t] * P2[y]
eq generic(3, 1, 0; seed=7)
eq generic(0, 1, 3; seed=7)
