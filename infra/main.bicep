// Entry point azd provisions for Aurous: one resource group per azd environment, and the shared infrastructure in it
// (resources.bicep). The outputs below land in the azd environment, where azd's Aspire deployment and the
// postprovision hook read them.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; the resource group is rg-<name> and every resource is tagged with it.')
param environmentName string

@minLength(1)
@description('Region for every resource. Serverless GPUs are offered in a subset of regions; see docs/deploy.md.')
param location string

@description('Object id of the user or service principal running azd (azd fills it in).')
param principalId string = ''

@description('GPU workload profile type for the inference worker, or None for a CPU-only environment.')
@allowed([
  'Consumption-GPU-NC8as-T4'
  'Consumption-GPU-NC24-A100'
  'None'
])
param gpuWorkloadProfileType string = 'Consumption-GPU-NC8as-T4'

@secure()
@description('Administrator password of the PostgreSQL server; the preprovision hook generates one into the azd environment.')
param postgresAdminPassword string

var tags = {
  'azd-env-name': environmentName
}

resource rg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module resources 'resources.bicep' = {
  name: 'resources'
  scope: rg
  params: {
    location: location
    tags: tags
    principalId: principalId
    gpuWorkloadProfileType: gpuWorkloadProfileType
    postgresAdminPassword: postgresAdminPassword
  }
}

// The connection strings stay inside resources.bicep as secure outputs: azd keeps no secure output, and a plain one
// would put keys into the subscription's deployment history.
output AZURE_RESOURCE_GROUP string = rg.name
output MANAGED_IDENTITY_CLIENT_ID string = resources.outputs.MANAGED_IDENTITY_CLIENT_ID
output MANAGED_IDENTITY_NAME string = resources.outputs.MANAGED_IDENTITY_NAME
output AZURE_LOG_ANALYTICS_WORKSPACE_NAME string = resources.outputs.AZURE_LOG_ANALYTICS_WORKSPACE_NAME
output AZURE_LOG_ANALYTICS_WORKSPACE_ID string = resources.outputs.AZURE_LOG_ANALYTICS_WORKSPACE_ID
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = resources.outputs.AZURE_CONTAINER_REGISTRY_ENDPOINT
output AZURE_CONTAINER_REGISTRY_NAME string = resources.outputs.AZURE_CONTAINER_REGISTRY_NAME
output AZURE_CONTAINER_REGISTRY_MANAGED_IDENTITY_ID string = resources.outputs.AZURE_CONTAINER_REGISTRY_MANAGED_IDENTITY_ID
output AZURE_CONTAINER_APPS_ENVIRONMENT_NAME string = resources.outputs.AZURE_CONTAINER_APPS_ENVIRONMENT_NAME
output AZURE_CONTAINER_APPS_ENVIRONMENT_ID string = resources.outputs.AZURE_CONTAINER_APPS_ENVIRONMENT_ID
output AZURE_CONTAINER_APPS_ENVIRONMENT_DEFAULT_DOMAIN string = resources.outputs.AZURE_CONTAINER_APPS_ENVIRONMENT_DEFAULT_DOMAIN
output AZURE_CONTAINER_APPS_GPU_WORKLOAD_PROFILE string = resources.outputs.AZURE_CONTAINER_APPS_GPU_WORKLOAD_PROFILE
output POSTGRES_HOST string = resources.outputs.POSTGRES_HOST
output POSTGRES_DATABASE string = resources.outputs.POSTGRES_DATABASE
output POSTGRES_USERNAME string = resources.outputs.POSTGRES_USERNAME
output REDIS_NAME string = resources.outputs.REDIS_NAME
output REDIS_HOST string = resources.outputs.REDIS_HOST
output STORAGE_ACCOUNT_NAME string = resources.outputs.STORAGE_ACCOUNT_NAME
output STORAGE_BLOB_ENDPOINT string = resources.outputs.STORAGE_BLOB_ENDPOINT
output STORAGE_BLOB_CONTAINER string = resources.outputs.STORAGE_BLOB_CONTAINER
