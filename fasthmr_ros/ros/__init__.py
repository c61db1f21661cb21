"""Everything that knows ROS 2: the node, its parameters, message conversion, markers, diagnostics, the MCAP
recorder, replay and the demo.

Imports perception/ and below; never cli/ or training/.
"""
