// init and master import: bringing a tablet into service.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli_context.h"
#include "commands.h"
#include "master_file.h"
#include "output.h"

namespace kitsync::cli {
namespace {

using core::Status;

struct InitOptions {
  std::string post_code;
  std::string device_name;
  std::string key_file;
};

struct MasterImportOptions {
  std::string file;
};

core::Result<std::string> ReadKeyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument("cannot read programme key file '" + path + "'");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (bytes.str().empty()) {
    return Status::InvalidArgument("programme key file '" + path +
                                   "' is empty; identity documents cannot be protected without "
                                   "the programme key");
  }
  return bytes.str();
}

// The files SQLite may leave beside a database that was never finished.
std::vector<std::string> DatabaseFiles(const std::string& path) {
  return {path, path + "-journal", path + "-wal", path + "-shm"};
}

int RunInit(const GlobalOptions& global, const InitOptions& options) {
  constexpr char kWhat[] = "tablet not initialised";
  std::error_code ec;
  if (std::filesystem::exists(global.db_path, ec)) {
    return ReportError(global, kWhat,
                       Status::AlreadyExists("'" + global.db_path +
                                             "' already exists, and kitsync never overwrites a "
                                             "tablet database. Choose another --db path"));
  }
  auto key = ReadKeyFile(options.key_file);
  if (!key.ok()) return ReportError(global, kWhat, key.status());

  std::vector<std::string> preexisting;
  for (const auto& file : DatabaseFiles(global.db_path)) {
    if (std::filesystem::exists(file, ec)) preexisting.push_back(file);
  }
  core::TabletSetup setup;
  setup.post_code = options.post_code;
  setup.device_name = options.device_name;
  setup.programme_key = *key;
  auto store = core::Store::Create(global.db_path, setup);
  if (!store.ok()) {
    // A refused init must leave no half-made database behind for the next attempt to trip on.
    for (const auto& file : DatabaseFiles(global.db_path)) {
      if (std::find(preexisting.begin(), preexisting.end(), file) == preexisting.end()) {
        std::filesystem::remove(file, ec);
      }
    }
    return ReportError(global, kWhat, store.status());
  }
  const core::DeviceIdentity& identity = (*store)->identity();
  if (global.json) {
    PrintJson({{"ok", true},
               {"db", global.db_path},
               {"device_id", identity.device_id},
               {"device_name", identity.device_name},
               {"post_code", identity.post_code}});
  } else {
    std::cout << "Tablet initialised.\n";
    PrintFields(std::cout, {{"Database", global.db_path},
                            {"Device", identity.device_name + " (" + identity.device_id + ")"},
                            {"Post", identity.post_code}});
    std::cout << "Next: import master data with 'kitsync master import FILE.json'.\n";
  }
  return kExitOk;
}

std::string Counted(size_t n, const char* singular, const char* plural) {
  return std::to_string(n) + " " + (n == 1 ? singular : plural);
}

int RunMasterImport(const GlobalOptions& global, const MasterImportOptions& options) {
  constexpr char kWhat[] = "master data not imported";
  auto store = OpenStore(global);
  if (!store.ok()) return ReportError(global, kWhat, store.status());
  // What the tablet holds decides the IDs of records the file names only by code.
  auto existing = (*store)->LoadMasterData();
  if (!existing.ok()) return ReportError(global, kWhat, existing.status());
  auto data = LoadMasterFile(options.file, *existing);
  if (!data.ok()) return ReportError(global, kWhat, data.status());
  if (Status s = (*store)->ImportMasterData(*data); !s.ok()) {
    return ReportError(global, kWhat, s);
  }
  if (global.json) {
    PrintJson({{"ok", true},
               {"kit_types", data->kit_types.size()},
               {"posts", data->posts.size()},
               {"officers", data->officers.size()},
               {"rounds", data->rounds.size()}});
  } else {
    std::cout << "Master data imported: "
              << Counted(data->kit_types.size(), "kit type", "kit types") << ", "
              << Counted(data->posts.size(), "post", "posts") << ", "
              << Counted(data->officers.size(), "officer", "officers") << ", "
              << Counted(data->rounds.size(), "round", "rounds") << ".\n";
  }
  return kExitOk;
}

}  // namespace

void AddSetupCommands(CLI::App& app, Cli& cli) {
  auto init_options = std::make_shared<InitOptions>();
  CLI::App* init = app.add_subcommand("init", "Create the database of a new tablet");
  init->add_option("--post", init_options->post_code, "Code of the post this tablet serves")
      ->required();
  init->add_option("--device-name", init_options->device_name, "Name written on the tablet")
      ->required();
  init->add_option("--programme-key-file", init_options->key_file,
                   "File whose bytes are the programme key for identity documents")
      ->required();
  init->callback([&cli, init_options] {
    cli.action = [&cli, init_options] { return RunInit(cli.global, *init_options); };
  });

  CLI::App* master = app.add_subcommand("master", "Master data from the central office");
  master->require_subcommand(1);
  auto import_options = std::make_shared<MasterImportOptions>();
  CLI::App* import = master->add_subcommand(
      "import", "Import kit types, posts, officers and rounds from a JSON file");
  import->add_option("file", import_options->file, "Master data JSON file")->required();
  import->callback([&cli, import_options] {
    cli.action = [&cli, import_options] { return RunMasterImport(cli.global, *import_options);
};
}  // namespace kitsync::cli
);
}

}  // namespace kitsync::cli
