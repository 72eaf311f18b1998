# The Dwork (Fermat) pencil of quintics; the seed's example at psi = -1/5.
name dwork_quintic
ambient P4
param psi = -1/5
eq z0^5 + z1^5 + z2^5 + z3^5 + z4^5 - 5*psi*z0*z1*z2*z3*z4
