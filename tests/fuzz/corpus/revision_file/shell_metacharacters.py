revision = "$(touch /tmp/x);`id`"
down_revision = 'rev;rm -rf'
