using Aurous.MigrationService;
using Aurous.ServiceDefaults;

var builder = Host.CreateApplicationBuilder(args);
builder.AddServiceDefaults();
builder.AddNpgsqlDataSource("postgres");
builder.Services.AddOptions<DevSeedOptions>().BindConfiguration(DevSeedOptions.Section)
    .Validate(DevSeedOptions.IsValid, $"{DevSeedOptions.Section}:KeyFile must be empty or an absolute path.")
    .ValidateOnStart();
builder.Services.AddHostedService<DatabaseInitializer>();
builder.Build().Run();
