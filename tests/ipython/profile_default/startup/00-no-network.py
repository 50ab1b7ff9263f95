# Loaded by every kernel that builds or tests a lesson (IPYTHONDIR points here): the lessons must
# run with no network, so any connection to a non-loopback address raises at once.
import segcourse.tooling.netguard as _g

_g.block_network()
del _g
