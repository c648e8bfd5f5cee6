using Aurous.Api.Balance;
using Aurous.Api.Chat;
using Aurous.Api.Embeddings;
using Aurous.Api.Extensions;
using Aurous.Api.Generation;
using Aurous.Api.Keys;
using Aurous.Api.Loras;
using Aurous.Api.Models;
using Aurous.Api.OpenApi;
using Aurous.Api.Outputs;
using Aurous.Api.Webhooks;
using Aurous.Jobs.Webhooks;
using Aurous.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApiServices();
builder.AddWebhooks();

var app = builder.Build();
app.UseAurousPipeline();
app.MapDefaultEndpoints();
app.MapApiDocument();

var v1 = app.MapGroup("/v1").RequireApiKey();
v1.MapModelsApi();
v1.MapBalanceApi();
v1.MapEmbeddingsApi();
v1.MapChatApi();
v1.MapWebhookEndpointsApi();
v1.MapManagementApi();
v1.MapImagesApi();
v1.MapVideosApi();
v1.MapLorasApi();
app.MapOutputsApi();
app.MapLoraPreviews();

app.Run();

/// <summary>Entry point marker for WebApplicationFactory in tests.</summary>
public partial class Program;
