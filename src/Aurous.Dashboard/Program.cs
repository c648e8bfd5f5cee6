using Aurous.Dashboard.Components;
using Aurous.Dashboard.Components.Shared;
using Aurous.Dashboard.Operators;
using Aurous.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.Services.AddRazorComponents();
builder.AddOperatorSignIn();
builder.AddJobsDashboard();
builder.AddTeamTools();

var app = builder.Build();
app.UseAuthentication();
app.UseAuthorization();
app.UseRateLimiter();
app.UseAntiforgery();
app.MapDefaultEndpoints();
app.MapStaticAssets();
app.MapOperatorSignIn();
app.MapJobsDashboard();
app.MapRazorComponents<App>();

app.Run();
