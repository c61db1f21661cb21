"""fasthmr_ros: fast 3D human meshes (FastHMR) for ROS 2."""

# The generated message modules (fasthmr_ros.msg) live in the installed copy of this package; when the source
# tree shadows it (tests run from the repo root), this lets Python find them there too.
__path__ = __import__("pkgutil").extend_path(__path__, __name__)

__version__ = "0.1.0"
