using Aurous.InferenceWorker;
using Aurous.InferenceWorker.Chat;
using Aurous.InferenceWorker.Embeddings;
using Aurous.Jobs;
using Aurous.Jobs.Webhooks;
using Aurous.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddInferenceServices();
builder.AddMediaGeneration();
// The Hangfire servers (generation, webhook delivery) run where Postgres is configured, as the AppHost does.
if (builder.Configuration.GetConnectionString("postgres") is not null)
{
    builder.AddJobServers();
    builder.AddWebhooks();
}

var app = builder.Build();

app.MapDefaultEndpoints();
app.UseInternalApiKey();
app.MapInfoApi();
app.MapInternalEmbeddings();
app.MapInternalChat();

app.Run();

/// <summary>The entry point, public so that tests can host the worker with WebApplicationFactory.</summary>
public partial class Program;
