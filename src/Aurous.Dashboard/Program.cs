using Aurous.Dashboard.Components;
using Aurous.Dashboard.Components.Shared;
using Aurous.Dashboard.Identity;
using Aurous.Dashboard.Operators;
using Aurous.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.Services.AddRazorComponents().AddInteractiveServerComponents();
builder.AddDashboardAccounts();
builder.AddJobsDashboard();
builder.AddTeamTools();

var app = builder.Build();
app.UseStatusCodePagesWithReExecute("/status/{0}", createScopeForStatusCodePages: true);
app.UseAuthentication();
app.UseAuthorization();
app.UseRateLimiter();
app.UseAntiforgery();
app.MapDefaultEndpoints();
app.MapStaticAssets();
app.MapDashboardAccounts();
app.MapJobsDashboard();
app.MapUsageCsv();
app.MapRazorComponents<App>().AddInteractiveServerRenderMode();

app.Run();
