# The engine component of hack/stack. Placeholder until it is built out.

engine_build() { :; }
engine_start() { :; }
engine_stop() { :; }
engine_status() { return 1; }
engine_env() { :; }
