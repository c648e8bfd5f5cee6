using Aurous.InferenceWorker;
using Aurous.InferenceWorker.Chat;
using Aurous.InferenceWorker.Embeddings;
using Aurous.Jobs.Webhooks;
using Aurous.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddInferenceServices();
builder.AddMediaGeneration();
// Webhook delivery runs on the job servers, which start where Postgres is configured (AddInferenceServices), as the AppHost does.
if (builder.Configuration.GetConnectionString("postgres") is not null)
{
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
