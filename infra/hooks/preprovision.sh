#!/bin/sh
# Before the first provision: give the PostgreSQL server an administrator password, kept in the azd environment
# (.azure/<env>/.env) so that main.parameters.json passes it to Bicep and postprovision.sh can build the connection
# string from it. Set AUROUS_POSTGRES_PASSWORD yourself (azd env set) to choose one.
set -eu

env_name="${AZURE_ENV_NAME:?run this through azd (azd provision or azd up)}"

if [ -z "${AUROUS_POSTGRES_PASSWORD:-}" ]; then
  # Letters and digits only, so the value needs no quoting inside a connection string; the "Pg1" prefix meets the
  # server's rule of three character classes whatever the random part holds.
  password="Pg1$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 29)"
  azd env set -e "$env_name" AUROUS_POSTGRES_PASSWORD "$password"
  echo "preprovision: generated AUROUS_POSTGRES_PASSWORD in azd environment '$env_name'"
fi
