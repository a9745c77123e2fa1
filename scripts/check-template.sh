#!/usr/bin/env bash
# Lint the SAM template offline: cfn-lint, then `sam validate --lint`.
# Exits non-zero on any error or warning from either.
#
#   HELPDESK_VENV=/path/to/venv scripts/check-template.sh
#
# Credentials and network — what was found (SAM CLI 1.170, cfn-lint 1.58):
# - Neither command needs AWS credentials or network for this template. Both run
#   the SAM transform locally with the bundled aws-sam-translator and check the
#   result against the bundled CloudFormation schemas; checked with strace: no
#   connect() other than local sockets.
# - Plain `sam validate` (without --lint) also passes offline today, but only
#   because the template uses policy *templates*: a managed policy given by name
#   makes it call iam:ListPolicies (credentials + network). `--lint` never does,
#   so that is the one run here.
# - SAM CLI telemetry is on by default and does DNS/HTTPS on each command:
#   SAM_CLI_TELEMETRY=0 turns it off.
# - The region only names pseudo-parameters (AWS::Region) for the transform;
#   cfn-lint also checks resource types/properties against that region's schema.
set -euo pipefail

venv="${HELPDESK_VENV:-/var/tmp/helpdesk-venv}"
# The venv root (…/helpdesk-venv) or its bin dir itself.
if [[ -x "$venv/bin/sam" || ! -x "$venv/sam" ]]; then bin="$venv/bin"; else bin="$venv"; fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

for tool in cfn-lint sam; do
    if [[ ! -x "$bin/$tool" ]]; then
        echo "check-template: $bin/$tool not found; install with: $bin/pip install cfn-lint aws-sam-cli" >&2
        exit 2
    fi
done

# Offline and credential-free, whatever the caller's environment holds.
export AWS_DEFAULT_REGION=us-east-1
export AWS_REGION=us-east-1
export SAM_CLI_TELEMETRY=0
export AWS_EC2_METADATA_DISABLED=true
export AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_CONFIG_FILE=/dev/null
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN

echo "== $("$bin/cfn-lint" --version)"
# Exit code is a bit mask (2 error, 4 warning, 8 informational); any of them fails.
"$bin/cfn-lint" --non-zero-exit-code informational -- template.yaml
echo "cfn-lint: no errors, no warnings"

echo "== $("$bin/sam" --version)"
# Runs cfn-lint again through SAM's own integration; exits 1 on any match.
"$bin/sam" validate --lint --template template.yaml --region us-east-1
