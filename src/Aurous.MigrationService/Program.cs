using Aurous.MigrationService;
using Aurous.ServiceDefaults;

var builder = Host.CreateApplicationBuilder(args);
builder.AddServiceDefaults();
builder.AddNpgsqlDataSource("postgres");
builder.Services.AddHostedService<DatabaseInitializer>();
builder.Build().Run();
