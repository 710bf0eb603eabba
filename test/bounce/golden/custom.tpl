# custom
failure_template = <<EOF
Charset: us-ascii
From: Postmaster <postmaster>
Subject: Bounced: $myhostname said no
Postmaster-Subject: PM copy

Hello from ${myhostname}; lifetime $maximal_queue_lifetime_days days, $bounce_queue_lifetime_hours hours.
EOF
