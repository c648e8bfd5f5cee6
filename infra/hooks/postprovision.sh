#!/bin/sh
# After provisioning: give azd the values of the app model's parameters, which it resolves from the environment's
# config (infra.parameters.<name>) when it writes each container app. Bicep cannot hand them over: azd records no
# secure deployment output, and a plain one would leak keys into deployment history. So this script reads the keys
# with the Azure CLI and stores:
#   postgres          Npgsql connection string to the aurous database (ConnectionStrings__postgres)
#   redis             StackExchange.Redis configuration, TLS on 6380   (ConnectionStrings__redis)
#   blobs             Azure Storage connection string                  (ConnectionStrings__blobs)
#   internal_api_key  the key api and inference-worker share           (InternalApi__Key), generated once
# The string formats match the secure outputs of infra/resources.bicep. Rerun it with `azd hooks run postprovision`
# after rotating a key, then `azd deploy`.
set -eu

env_name="${AZURE_ENV_NAME:?run this through azd (azd provision or azd up)}"
: "${AUROUS_POSTGRES_PASSWORD:?is not in the azd environment; set it (azd env set AUROUS_POSTGRES_PASSWORD ...) to the server password}"

set_parameter() {
  azd env config set -e "$env_name" "infra.parameters.$1" "$2" >/dev/null
}

set_parameter postgres \
  "Host=$POSTGRES_HOST;Port=5432;Database=$POSTGRES_DATABASE;Username=$POSTGRES_USERNAME;Password=$AUROUS_POSTGRES_PASSWORD;SSL Mode=Require"

redis_key=$(az redis list-keys --subscription "$AZURE_SUBSCRIPTION_ID" --resource-group "$AZURE_RESOURCE_GROUP" \
  --name "$REDIS_NAME" --query primaryKey --output tsv)
set_parameter redis "$REDIS_HOST:6380,password=$redis_key,ssl=True,abortConnect=False"

blobs=$(az storage account show-connection-string --subscription "$AZURE_SUBSCRIPTION_ID" \
  --resource-group "$AZURE_RESOURCE_GROUP" --name "$STORAGE_ACCOUNT_NAME" --query connectionString --output tsv)
set_parameter blobs "$blobs"

# Kept once generated: rotating it is a deliberate act (change it, then redeploy api and worker together).
if ! azd env config get -e "$env_name" infra.parameters.internal_api_key >/dev/null 2>&1; then
  set_parameter internal_api_key "k$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 47)"
fi

echo "postprovision: stored postgres, redis, blobs and internal_api_key for azd environment '$env_name'"
