# The netns component of hack/stack. Placeholder until it is built out.

netns_build() { :; }
netns_start() { :; }
netns_stop() { :; }
netns_status() { return 1; }
netns_env() { :; }
