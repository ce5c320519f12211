# The gitea component of hack/stack. Placeholder until it is built out.

gitea_build() { :; }
gitea_start() { :; }
gitea_stop() { :; }
gitea_status() { return 1; }
gitea_env() { :; }
