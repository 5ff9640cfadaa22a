#!/bin/sh
# gpu-status: the GPU at a glance (managed by aimachine). nvtop shows it live.
set -e
nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu,temperature.gpu \
  --format=csv,noheader | while IFS=, read -r name used total util temp; do
  printf 'GPU:         %s\nMemory:     %s /%s\nUtilisation: %s\nTemperature: %s C\n' \
    "$name" "$used" "$total" "$(echo "$util" | tr -d ' ')" "$(echo "$temp" | tr -d ' ')"
done
echo "Processes:"
nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader \
  | sed 's/^/  /' | grep . || echo "  none"
