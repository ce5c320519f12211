# The images component of hack/stack. Placeholder until it is built out.

images_build() { :; }
images_start() { :; }
images_stop() { :; }
images_status() { return 1; }
images_env() { :; }
