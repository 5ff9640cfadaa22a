# Managed by aimachine: nvcc and the CUDA libraries for login shells.
export CUDA_HOME=/usr/local/cuda
case ":$PATH:" in *":$CUDA_HOME/bin:"*) ;; *) export PATH="$CUDA_HOME/bin:$PATH" ;; esac
