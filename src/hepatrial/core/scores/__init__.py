"""Liver scores: MELD family, Child-Pugh, West Haven, EASL-CLIF, APASL AARC, COSSH-ACLF II."""
