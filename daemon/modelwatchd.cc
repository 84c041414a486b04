// modelwatchd: the monitoring sidecar's entry point (placeholder until the daemon lands).
int main() { return 0; }
