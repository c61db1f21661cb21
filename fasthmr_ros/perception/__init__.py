"""Frame in, people out, without ROS: person masks and landmarks, tracking, crops, camera maths, the streaming
decoder's per-track state, the pipeline that chains them, and the renderer.

Imports runtime/, model/ and the leaf modules (paths, footage); never ros/, cli/ or training/.
"""
