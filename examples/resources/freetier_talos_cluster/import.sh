# NAME=SECRETS_FILE: the cluster's secrets bundle as `talosctl gen secrets` writes it (never the
# secrets themselves: Terraform prints and logs import IDs). The next apply finds the VMs by
# name and adopts them; Bootstrap is not run again.
terraform import freetier_talos_cluster.this 'freetier=./secrets.yaml'
