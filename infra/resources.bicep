// The shared Azure infrastructure for Aurous, written by hand where Aspire's Azure hosting integrations would have
// generated it: a Container Apps environment (with a GPU workload profile for the inference worker), the registry
// azd pushes the service images to, the identity the apps run as, and the three stores behind the app model's
// connection-string parameters (postgres, redis, blobs). azd creates the container apps themselves from the AppHost
// manifest at deploy time; nothing here names a service.

@description('Region for every resource.')
param location string = resourceGroup().location

@description('Tags for every resource; azd finds the environment\'s resources by azd-env-name.')
param tags object = {}

@description('Object id of whoever runs azd. It gets Contributor on the Container Apps environment so the Aspire dashboard there opens for them. Empty skips the assignment.')
param principalId string = ''

// Serverless ("Consumption-GPU-*") rather than dedicated GPU profiles: billed per second only while a replica runs,
// able to scale to zero, and no node pool to size. T4 (16 GB) is the cheapest and holds the models Aurous ships;
// A100 (80 GB) is for large language models. Both GPUs are supported by CUDA 13, which the worker's ONNX Runtime
// build loads. 'None' leaves the environment CPU-only, where the worker falls back to ONNX Runtime on CPU.
@description('GPU workload profile type for the inference worker, or None for a CPU-only environment.')
@allowed([
  'Consumption-GPU-NC8as-T4'
  'Consumption-GPU-NC24-A100'
  'None'
])
param gpuWorkloadProfileType string = 'Consumption-GPU-NC8as-T4'

@description('Administrator login of the PostgreSQL server (the services connect as it).')
param postgresAdminLogin string = 'aurousadmin'

@secure()
@description('Administrator password of the PostgreSQL server.')
param postgresAdminPassword string

@description('PostgreSQL compute size. Burstable B1ms is the smallest; production load wants General Purpose (e.g. Standard_D2ds_v5 with tier GeneralPurpose).')
param postgresSkuName string = 'Standard_B1ms'

@description('PostgreSQL pricing tier matching postgresSkuName.')
@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param postgresSkuTier string = 'Burstable'

@description('Azure Cache for Redis tier. Basic has no replica and no SLA; Standard adds a replica.')
@allowed([
  'Basic'
  'Standard'
  'Premium'
])
param redisSkuName string = 'Basic'

@description('Azure Cache for Redis size within the tier (0 = C0, 250 MB).')
@minValue(0)
@maxValue(6)
param redisCapacity int = 0

@description('Blob container that holds generated outputs.')
param blobContainerName string = 'outputs'

var resourceToken = uniqueString(resourceGroup().id)
var gpuProfileName = 'gpu'
var hasGpu = gpuWorkloadProfileType != 'None'

// Built-in role definitions.
var acrPullRole = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')
var blobDataContributorRole = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')
var contributorRole = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b24988ac-6180-42a0-ab88-20f7382dd24c')

// One identity for every container app: it pulls images (no registry password anywhere) and may read and write
// blobs, so the blobs parameter can also be a plain service URI for a client that authenticates as AZURE_CLIENT_ID.
resource managedIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'mi-${resourceToken}'
  location: location
  tags: tags
}

// azd pushes each project's image here (`dotnet publish` container support, or Docker). The admin user stays off:
// azd signs in with the caller's Entra token and the apps pull with the identity.
resource containerRegistry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: 'acr${resourceToken}'
  location: location
  tags: tags
  sku: {
    name: 'Basic'
  }
  properties: {
    adminUserEnabled: false
  }
}

resource registryPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(containerRegistry.id, managedIdentity.id, acrPullRole)
  scope: containerRegistry
  properties: {
    principalId: managedIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: acrPullRole
  }
}

// Container console logs and system logs land here.
resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2022-10-01' = {
  name: 'law-${resourceToken}'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

// A workload-profiles environment: api, dashboard and migrations run on Consumption; the GPU profile exists for the
// inference worker. A GPU profile can only be added when the environment is created, so it is declared here up front.
resource containerAppsEnvironment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: 'cae-${resourceToken}'
  location: location
  tags: tags
  properties: {
    workloadProfiles: concat([
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ], hasGpu ? [
      {
        // Serverless GPU profiles take no minimumCount/maximumCount: each app's own scale rule decides.
        name: gpuProfileName
        workloadProfileType: gpuWorkloadProfileType
      }
    ] : [])
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logAnalytics.properties.customerId
        sharedKey: logAnalytics.listKeys().primarySharedKey
      }
    }
  }
}

// The Aspire dashboard as a Container Apps component, the deployed counterpart of the local one: it shows the
// services' OpenTelemetry logs, traces and metrics. (The child type is only published in preview API versions.)
resource aspireDashboard 'Microsoft.App/managedEnvironments/dotNetComponents@2024-02-02-preview' = {
  parent: containerAppsEnvironment
  name: 'aspire-dashboard'
  properties: {
    componentType: 'AspireDashboard'
  }
}

resource dashboardAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(containerAppsEnvironment.id, principalId, contributorRole)
  scope: containerAppsEnvironment
  properties: {
    principalId: principalId
    roleDefinitionId: contributorRole
  }
}

// PostgreSQL 16 with password authentication, reachable from Azure services (the Container Apps environment has no
// fixed outbound address without a virtual network). 2024-08-01 is the stable API version that accepts version '16'.
resource postgres 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: 'psql-${resourceToken}'
  location: location
  tags: tags
  sku: {
    name: postgresSkuName
    tier: postgresSkuTier
  }
  properties: {
    version: '16'
    administratorLogin: postgresAdminLogin
    administratorLoginPassword: postgresAdminPassword
    authConfig: {
      activeDirectoryAuth: 'Disabled'
      passwordAuth: 'Enabled'
    }
    storage: {
      storageSizeGB: 32
    }
    backup: {
      backupRetentionDays: 7
      geoRedundantBackup: 'Disabled'
    }
    highAvailability: {
      mode: 'Disabled'
    }
  }
}

// 0.0.0.0 to 0.0.0.0 is the service's spelling of "allow Azure services"; no internet address is admitted.
resource postgresAllowAzure 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = {
  parent: postgres
  name: 'AllowAllAzureServicesAndResourcesWithinAzureIps'
  properties: {
    startIpAddress: '0.0.0.0'
    endIpAddress: '0.0.0.0'
  }
}

resource postgresDatabase 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: postgres
  name: 'aurous'
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
  // The server applies one change at a time; creating the rule and the database together can fail as "server busy".
  dependsOn: [
    postgresAllowAzure
  ]
}

// Rate limits, holds and notifications. TLS only (port 6380); the access key is the credential StackExchange.Redis uses.
resource redis 'Microsoft.Cache/redis@2023-08-01' = {
  name: 'redis-${resourceToken}'
  location: location
  tags: tags
  properties: {
    sku: {
      name: redisSkuName
      family: redisSkuName == 'Premium' ? 'P' : 'C'
      capacity: redisCapacity
    }
    enableNonSslPort: false
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    redisVersion: '6'
  }
}

// Generated outputs. Nothing is public: clients use the account key or the identity, and readers get SAS links.
resource storage 'Microsoft.Storage/storageAccounts@2023-01-01' = {
  name: 'st${resourceToken}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-01-01' = {
  parent: storage
  name: 'default'
}

resource outputsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-01-01' = {
  parent: blobService
  name: blobContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource blobAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, managedIdentity.id, blobDataContributorRole)
  scope: storage
  properties: {
    principalId: managedIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: blobDataContributorRole
  }
}

// Outputs in the names azd's Aspire deployment reads when it writes each container app.
output MANAGED_IDENTITY_CLIENT_ID string = managedIdentity.properties.clientId
output MANAGED_IDENTITY_NAME string = managedIdentity.name
output MANAGED_IDENTITY_PRINCIPAL_ID string = managedIdentity.properties.principalId
output AZURE_LOG_ANALYTICS_WORKSPACE_NAME string = logAnalytics.name
output AZURE_LOG_ANALYTICS_WORKSPACE_ID string = logAnalytics.id
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = containerRegistry.properties.loginServer
output AZURE_CONTAINER_REGISTRY_NAME string = containerRegistry.name
output AZURE_CONTAINER_REGISTRY_MANAGED_IDENTITY_ID string = managedIdentity.id
output AZURE_CONTAINER_APPS_ENVIRONMENT_NAME string = containerAppsEnvironment.name
output AZURE_CONTAINER_APPS_ENVIRONMENT_ID string = containerAppsEnvironment.id
output AZURE_CONTAINER_APPS_ENVIRONMENT_DEFAULT_DOMAIN string = containerAppsEnvironment.properties.defaultDomain

@description('Workload profile the inference worker should run on: the GPU profile, or Consumption (CPU) without one.')
output AZURE_CONTAINER_APPS_GPU_WORKLOAD_PROFILE string = hasGpu ? gpuProfileName : 'Consumption'

// Where the stores are, without credentials; the postprovision hook builds the connection strings from these.
output POSTGRES_HOST string = postgres.properties.fullyQualifiedDomainName
output POSTGRES_DATABASE string = postgresDatabase.name
output POSTGRES_USERNAME string = postgresAdminLogin
output REDIS_NAME string = redis.name
output REDIS_HOST string = redis.properties.hostName
output STORAGE_ACCOUNT_NAME string = storage.name
output STORAGE_BLOB_ENDPOINT string = storage.properties.primaryEndpoints.blob
output STORAGE_BLOB_CONTAINER string = outputsContainer.name

// The three connection strings in the form each client takes (Npgsql, StackExchange.Redis, Azure.Storage.Blobs).
// Secure outputs never enter deployment history, and azd does not record them either, so these serve a parent
// template that declares the container apps itself; under azd, hooks/postprovision.sh builds the same strings.
@secure()
output POSTGRES_CONNECTIONSTRING string = 'Host=${postgres.properties.fullyQualifiedDomainName};Port=5432;Database=${postgresDatabase.name};Username=${postgresAdminLogin};Password=${postgresAdminPassword};SSL Mode=Require'

@secure()
output REDIS_CONNECTIONSTRING string = '${redis.properties.hostName}:${redis.properties.sslPort},password=${redis.listKeys().primaryKey},ssl=True,abortConnect=False'

@secure()
output BLOBS_CONNECTIONSTRING string = 'DefaultEndpointsProtocol=https;AccountName=${storage.name};AccountKey=${storage.listKeys().keys[0].value};EndpointSuffix=${environment().suffixes.storage}'
